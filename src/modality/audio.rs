//! Audio → mono 8-bit PCM: channels averaged, then `((s >> 8) + 128) & 0xFF` of 16-bit samples.

use std::io::Cursor;

/// Longest audio accepted, in samples per channel (about 35 minutes at 48 kHz).
const MAX_FRAMES: usize = 100_000_000;

/// Decodes WAV (hound) or FLAC/MP3/Ogg Vorbis (symphonia) to 8-bit mono PCM and its rate.
pub(super) fn to_pcm8(bytes: &[u8]) -> Result<(Vec<u8>, u32), String> {
    let (frames, rate) = if bytes.starts_with(b"RIFF") {
        wav_frames(bytes)?
    } else {
        symphonia_frames(bytes)?
    };
    if frames.is_empty() {
        return Err("no audio samples".into());
    }
    Ok((frames.iter().map(|&s| pcm8(s)).collect(), rate))
}

/// The paper's 16 → 8-bit mapping.
pub(crate) fn pcm8(s: i16) -> u8 {
    (((i32::from(s) >> 8) + 128) & 0xFF) as u8
}

/// Floor of the mean of one frame's channels.
fn mono(frame: &[i32]) -> i16 {
    let sum: i64 = frame.iter().map(|&s| i64::from(s)).sum();
    sum.div_euclid(frame.len().max(1) as i64) as i16
}

fn to_i16(s: i32, bits: u16) -> i32 {
    if bits >= 16 {
        s >> (bits - 16)
    } else {
        s << (16 - bits)
    }
}

fn float_to_i16(f: f32) -> i32 {
    (f64::from(f) * 32768.0).floor().clamp(-32768.0, 32767.0) as i32
}

fn wav_frames(bytes: &[u8]) -> Result<(Vec<i16>, u32), String> {
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    if reader.duration() as usize > MAX_FRAMES {
        return Err("longer than the audio length limit".into());
    }
    let samples: Vec<i32> = match spec.sample_format {
        hound::SampleFormat::Int => reader
            .into_samples::<i32>()
            .map(|s| s.map(|v| to_i16(v, spec.bits_per_sample)))
            .collect::<Result<_, _>>(),
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .map(|s| s.map(float_to_i16))
            .collect::<Result<_, _>>(),
    }
    .map_err(|e| e.to_string())?;
    Ok((
        samples.chunks(channels).map(mono).collect(),
        spec.sample_rate,
    ))
}

fn symphonia_frames(bytes: &[u8]) -> Result<(Vec<i16>, u32), String> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| e.to_string())?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| "no audio track".to_string())?;
    let track_id = track.id;
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(Error::ResetRequired) => break,
            Err(e) => return Err(e.to_string()),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(Error::DecodeError(_)) => continue,
            Err(e) => return Err(e.to_string()),
        };
        let spec = *decoded.spec();
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let mut buf = SampleBuffer::<i16>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        let frame: Vec<i32> = buf.samples().iter().map(|&s| i32::from(s)).collect();
        out.extend(frame.chunks(channels).map(mono));
        if out.len() > MAX_FRAMES {
            return Err("longer than the audio length limit".into());
        }
    }
    if rate == 0 {
        return Err("unknown sample rate".into());
    }
    Ok((out, rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_mapping() {
        assert_eq!(pcm8(0), 128);
        assert_eq!(pcm8(-32768), 0);
        assert_eq!(pcm8(32767), 255);
        assert_eq!(pcm8(-1), 127);
    }

    #[test]
    fn stereo_wav_is_averaged() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
            for (l, r) in [(1000i16, 3000i16), (-32768, -32768), (256, -257)] {
                w.write_sample(l).unwrap();
                w.write_sample(r).unwrap();
            }
            w.finalize().unwrap();
        }
        let (pcm, rate) = to_pcm8(buf.get_ref()).unwrap();
        assert_eq!(rate, 8000);
        assert_eq!(pcm, vec![pcm8(2000), 0, pcm8(-1)]);
    }
}

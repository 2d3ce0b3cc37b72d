//! FLAC of 8-bit mono PCM, block size 4096 and LPC order up to 12 (like `flac -8`), by the
//! pure-Rust `flacenc`; decoded back with `symphonia`'s FLAC decoder.

use super::{Codec, CodecError};
use crate::modality::Layout;
use flacenc::component::BitRepr;
use flacenc::error::Verify;

/// FLAC, strongest settings.
pub struct Flac;

const BLOCK_SIZE: usize = 4096;
const LPC_ORDER: usize = 12;
/// Nominal sample rate written when pixels are coded as a signal.
const IMAGE_RATE: u32 = 16_000;

fn enc_err(e: impl std::fmt::Debug) -> CodecError {
    CodecError::Encode {
        codec: "flac",
        reason: format!("{e:?}"),
    }
}

fn dec_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::Decode {
        codec: "flac",
        reason: e.to_string(),
    }
}

/// Sets STREAMINFO's minimum block size to the maximum, as the FLAC spec asks for
/// fixed-size streams ("excluding the last block"). flacenc counts the short last block,
/// and symphonia then refuses the stream.
fn conform_min_block_size(flac: &mut [u8]) {
    // "fLaC", then the first metadata block header (type 0 = STREAMINFO), then its fields.
    if flac.len() >= 12 && flac[..4] == *b"fLaC" && flac[4] & 0x7F == 0 {
        let (min, max) = flac[8..12].split_at_mut(2);
        min.copy_from_slice(max);
    }
}

impl Codec for Flac {
    fn name(&self) -> &'static str {
        "flac"
    }
    fn setting(&self) -> &'static str {
        "flacenc, block 4096, LPC order 12 (≈ flac -8)"
    }
    fn accepts(&self, layout: &Layout) -> bool {
        matches!(layout, Layout::Audio { .. } | Layout::Image { .. })
    }
    fn compress(&self, data: &[u8], layout: &Layout) -> Result<Vec<u8>, CodecError> {
        // Pixels are coded as a signal too (DATA.md's baselines do); their "rate" is nominal.
        let sample_rate = match *layout {
            Layout::Audio { sample_rate } => sample_rate,
            Layout::Image { .. } => IMAGE_RATE,
            Layout::Bytes => return Err(CodecError::NotApplicable { codec: "flac" }),
        };
        let samples: Vec<i32> = data.iter().map(|&b| i32::from(b) - 128).collect();
        let mut config = flacenc::config::Encoder::default();
        config.block_size = BLOCK_SIZE;
        config.multithread = false;
        config.subframe_coding.qlpc.lpc_order = LPC_ORDER;
        let config = config.into_verified().map_err(|(_, e)| enc_err(e))?;
        // FLAC needs at least one sample per stream; an empty input is one silent sample's
        // worth of header, decoded back to zero samples by the STREAMINFO total.
        let source = flacenc::source::MemSource::from_samples(&samples, 1, 8, sample_rate as usize);
        let stream =
            flacenc::encode_with_fixed_block_size(&config, source, BLOCK_SIZE).map_err(enc_err)?;
        let mut sink = flacenc::bitsink::ByteSink::new();
        stream.write(&mut sink).map_err(enc_err)?;
        let mut out = sink.as_slice().to_vec();
        conform_min_block_size(&mut out);
        Ok(out)
    }
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        use symphonia::core::audio::SampleBuffer;
        use symphonia::core::codecs::DecoderOptions;
        use symphonia::core::errors::Error;
        use symphonia::core::formats::FormatOptions;
        use symphonia::core::io::MediaSourceStream;
        use symphonia::core::meta::MetadataOptions;
        use symphonia::core::probe::Hint;

        let mss = MediaSourceStream::new(
            Box::new(std::io::Cursor::new(data.to_vec())),
            Default::default(),
        );
        let mut hint = Hint::new();
        hint.with_extension("flac");
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(dec_err)?;
        let mut format = probed.format;
        let track = format.default_track().ok_or_else(|| dec_err("no track"))?;
        let params = track.codec_params.clone();
        if params.bits_per_sample != Some(8) || params.channels.map(|c| c.count()) != Some(1) {
            return Err(dec_err("not an 8-bit mono FLAC stream"));
        }
        let mut decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions { verify: true })
            .map_err(dec_err)?;
        let mut out = Vec::new();
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                // The reader reports the end as an I/O error; the length check below tells a
                // clean end from a truncated stream.
                Err(Error::IoError(_)) => break,
                Err(e) => return Err(dec_err(e)),
            };
            let decoded = decoder.decode(&packet).map_err(dec_err)?;
            let mut buf = SampleBuffer::<i32>::new(decoded.capacity() as u64, *decoded.spec());
            buf.copy_interleaved_ref(decoded);
            // symphonia scales samples to the full i32 range; the top byte is the 8-bit sample.
            out.extend(buf.samples().iter().map(|&s| ((s >> 24) + 128) as u8));
            if out.len() > max_len {
                return Err(CodecError::TooLong {
                    codec: "flac",
                    limit: max_len,
                });
            }
        }
        // With `verify`, the decoder compares the stream's MD5 with the decoded samples.
        if decoder.finalize().verify_ok == Some(false) {
            return Err(dec_err("MD5 of the decoded samples does not match"));
        }
        if params.n_frames.is_some_and(|n| n != out.len() as u64) {
            return Err(dec_err("the stream ends before its last sample"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::testing::*;

    fn real_pcm() -> (Vec<u8>, u32) {
        let p =
            crate::modality::prepare(include_bytes!("../../tests/data/sample.wav"), "sample.wav")
                .unwrap();
        let Layout::Audio { sample_rate } = p.layout else {
            panic!("not audio")
        };
        (p.stream, sample_rate)
    }

    #[test]
    fn roundtrips_real_audio_and_flac_reads_it() {
        let (pcm, rate) = real_pcm();
        let layout = Layout::Audio { sample_rate: rate };
        let packed = roundtrip(&Flac, &pcm, &layout);
        assert!(
            packed.len() < pcm.len() / 2,
            "{} of {}",
            packed.len(),
            pcm.len()
        );
        // The reference decoder writes raw signed 8-bit samples.
        let out = reference_decode(
            "flac",
            &[
                "-d",
                "-c",
                "-s",
                "--force-raw-format",
                "--endian=little",
                "--sign=unsigned",
                "-",
            ],
            &packed,
        );
        assert_eq!(out, pcm);
        for chunk in crate::paper::chunks(&pcm, &layout) {
            roundtrip(&Flac, &chunk.bytes, &chunk.layout);
        }
        roundtrip(&Flac, &[0], &layout);
    }
}

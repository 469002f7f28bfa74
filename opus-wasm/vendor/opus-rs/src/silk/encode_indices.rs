use crate::range_coder::RangeCoder;
use crate::silk::define::*;
use crate::silk::nlsf_unpack::silk_nlsf_unpack;
use crate::silk::structs::*;
use crate::silk::tables::*;

pub fn silk_encode_indices(
    ps_enc_c: &mut SilkEncoderState,
    ps_range_enc: &mut RangeCoder,
    frame_index: usize,
    encode_lbrr: bool,
    cond_coding: i32,
) {
    let ps_indices = if encode_lbrr {
        ps_enc_c.s_cmn.indices_lbrr[frame_index]
    } else {
        ps_enc_c.s_cmn.indices
    };
    let ps_indices = &ps_indices;

    let type_offset = 2 * ps_indices.signal_type + ps_indices.quant_offset_type;
    if encode_lbrr || type_offset >= 2 {
        ps_range_enc.encode_icdf((type_offset - 2) as i32, &SILK_TYPE_OFFSET_VAD_ICDF, 8);
    } else {
        ps_range_enc.encode_icdf(type_offset as i32, &SILK_TYPE_OFFSET_NO_VAD_ICDF, 8);
    }

    if cond_coding == CODE_CONDITIONALLY {
        ps_range_enc.encode_icdf(ps_indices.gains_indices[0] as i32, &SILK_DELTA_GAIN_ICDF, 8);
    } else {
        ps_range_enc.encode_icdf(
            (ps_indices.gains_indices[0] >> 3) as i32,
            &SILK_GAIN_ICDF[ps_indices.signal_type as usize],
            8,
        );
        ps_range_enc.encode_icdf(
            (ps_indices.gains_indices[0] & 7) as i32,
            &SILK_UNIFORM8_ICDF,
            8,
        );
    }

    for i in 1..ps_enc_c.s_cmn.nb_subfr as usize {
        ps_range_enc.encode_icdf(ps_indices.gains_indices[i] as i32, &SILK_DELTA_GAIN_ICDF, 8);
    }

    let cb = ps_enc_c.ps_nlsf_cb.expect("NLSF codebook not initialized");
    ps_range_enc.encode_icdf(
        ps_indices.nlsf_indices[0] as i32,
        &cb.cb1_icdf[((ps_indices.signal_type >> 1) as usize * cb.n_vectors as usize)..],
        8,
    );

    let mut ec_ix = [0i16; MAX_LPC_ORDER];
    let mut pred_q8 = [0u8; MAX_LPC_ORDER];
    silk_nlsf_unpack(
        &mut ec_ix,
        &mut pred_q8,
        cb,
        ps_indices.nlsf_indices[0] as usize,
    );

    for i in 0..cb.order as usize {
        if ps_indices.nlsf_indices[i + 1] >= NLSF_QUANT_MAX_AMPLITUDE as i8 {
            ps_range_enc.encode_icdf(
                2 * NLSF_QUANT_MAX_AMPLITUDE,
                &cb.ec_icdf[ec_ix[i] as usize..],
                8,
            );
            ps_range_enc.encode_icdf(
                (ps_indices.nlsf_indices[i + 1] - NLSF_QUANT_MAX_AMPLITUDE as i8) as i32,
                &SILK_NLSF_EXT_ICDF,
                8,
            );
        } else if ps_indices.nlsf_indices[i + 1] <= -(NLSF_QUANT_MAX_AMPLITUDE as i8) {
            ps_range_enc.encode_icdf(0, &cb.ec_icdf[ec_ix[i] as usize..], 8);
            ps_range_enc.encode_icdf(
                (-ps_indices.nlsf_indices[i + 1] - NLSF_QUANT_MAX_AMPLITUDE as i8) as i32,
                &SILK_NLSF_EXT_ICDF,
                8,
            );
        } else {
            ps_range_enc.encode_icdf(
                (ps_indices.nlsf_indices[i + 1] + NLSF_QUANT_MAX_AMPLITUDE as i8) as i32,
                &cb.ec_icdf[ec_ix[i] as usize..],
                8,
            );
        }
    }

    if ps_enc_c.s_cmn.nb_subfr == MAX_NB_SUBFR as i32 {
        ps_range_enc.encode_icdf(
            ps_indices.nlsf_interp_coef_q2 as i32,
            &SILK_NLSF_INTERPOLATION_FACTOR_ICDF,
            8,
        );
    }

    if ps_indices.signal_type == TYPE_VOICED as i8 {
        let mut encode_absolute_lag_index = true;
        if cond_coding == CODE_CONDITIONALLY && ps_enc_c.s_cmn.ec_prev_signal_type == TYPE_VOICED {
            let mut delta_lag_index =
                ps_indices.lag_index as i32 - ps_enc_c.s_cmn.ec_prev_lag_index as i32;
            if !(-8..=11).contains(&delta_lag_index) {
                delta_lag_index = 0;
            } else {
                delta_lag_index += 9;
                encode_absolute_lag_index = false;
            }
            ps_range_enc.encode_icdf(delta_lag_index, &SILK_PITCH_DELTA_ICDF, 8);
        }
        if encode_absolute_lag_index {
            let half_fs = ps_enc_c.s_cmn.fs_khz / 2;

            let max_lag_index = (SILK_PITCH_LAG_ICDF.len() as i32 - 1) * half_fs + (half_fs - 1);
            let lag_index = (ps_indices.lag_index as i32).min(max_lag_index);

            let pitch_high_bits = lag_index / half_fs;
            let pitch_low_bits = lag_index - pitch_high_bits * half_fs;
            ps_range_enc.encode_icdf(pitch_high_bits, &SILK_PITCH_LAG_ICDF, 8);

            let low_bits_icdf = match ps_enc_c.s_cmn.fs_khz {
                8 => &SILK_UNIFORM4_ICDF[..],
                12 => &SILK_UNIFORM6_ICDF[..],
                16 => &SILK_UNIFORM8_ICDF[..],
                _ => &SILK_UNIFORM8_ICDF[..],
            };
            ps_range_enc.encode_icdf(pitch_low_bits, low_bits_icdf, 8);
        }
        ps_enc_c.s_cmn.ec_prev_lag_index = ps_indices.lag_index;

        let contour_icdf = if ps_enc_c.s_cmn.nb_subfr == 2 {
            if ps_enc_c.s_cmn.fs_khz == 8 {
                &SILK_PITCH_CONTOUR_10_MS_NB_ICDF[..]
            } else {
                &SILK_PITCH_CONTOUR_10_MS_ICDF[..]
            }
        } else if ps_enc_c.s_cmn.fs_khz == 8 {
            &SILK_PITCH_CONTOUR_NB_ICDF[..]
        } else {
            &SILK_PITCH_CONTOUR_ICDF[..]
        };
        ps_range_enc.encode_icdf(ps_indices.contour_index as i32, contour_icdf, 8);

        ps_range_enc.encode_icdf(ps_indices.per_index as i32, &SILK_LTP_PER_INDEX_ICDF, 8);

        for k in 0..ps_enc_c.s_cmn.nb_subfr as usize {
            ps_range_enc.encode_icdf(
                ps_indices.ltp_index[k] as i32,
                SILK_LTP_GAIN_ICDF_PTRS[ps_indices.per_index as usize],
                8,
            );
        }

        if cond_coding == CODE_INDEPENDENTLY {
            ps_range_enc.encode_icdf(ps_indices.ltp_scale_index as i32, &SILK_LTPSCALE_ICDF, 8);
        }
    }

    ps_enc_c.s_cmn.ec_prev_signal_type = ps_indices.signal_type as i32;

    ps_range_enc.encode_icdf(ps_indices.seed as i32, &SILK_UNIFORM4_ICDF, 8);
}

/// Quantization indices `[interval % 3, sub-step, interval / 3]` of a zero
/// stereo predictor: what libopus's `silk_stereo_quant_pred` makes of
/// pred (0, 0), as for its `toMono` frames. Interval 7, sub-step 2 is level
/// -820 + 164 * 5 = 0, and the joint symbol is 5 * 2 + 2 = 12.
const NEUTRAL_PRED_IX: [[i8; 3]; 2] = [[1, 2, 2], [1, 2, 2]];

/// Write a frame's stereo header with a zero predictor: the mid/side
/// predictors, then the mid-only flag.
///
/// The decoder applies the predictors to mid-only frames too (side = pred *
/// mid in `silk_stereo_ms_to_lr`), so a non-zero one skews the channels:
/// index 0, which this used to write, is pred (0, -13364) and decodes as
/// L = -0.63 * mid, R = 2.63 * mid (issue #42). `_side_idx` and `_pred_idx`
/// are ignored; the stereo encoder writes its real predictors with
/// [`silk_stereo_encode_pred`].
pub fn silk_encode_stereo(
    ps_range_enc: &mut RangeCoder,
    _side_idx: i8,
    _pred_idx: i8,
    only_middle: i8,
) {
    silk_stereo_encode_pred(ps_range_enc, &NEUTRAL_PRED_IX);
    silk_stereo_encode_mid_only(ps_range_enc, only_middle);
}

/// Entropy code the mid/side predictor indices (libopus
/// `silk_stereo_encode_pred`), as `silk_stereo_quant_pred` returns them.
pub fn silk_stereo_encode_pred(ps_range_enc: &mut RangeCoder, ix: &[[i8; 3]; 2]) {
    let n = 5 * ix[0][2] + ix[1][2];
    debug_assert!(n < 25);
    ps_range_enc.encode_icdf(n as i32, &SILK_STEREO_PRED_JOINT_ICDF, 8);
    for pred in ix {
        debug_assert!(pred[0] < 3 && (pred[1] as i32) < STEREO_QUANT_SUB_STEPS);
        ps_range_enc.encode_icdf(pred[0] as i32, &SILK_UNIFORM3_ICDF, 8);
        ps_range_enc.encode_icdf(pred[1] as i32, &SILK_UNIFORM5_ICDF, 8);
    }
}

/// Entropy code the flag that only the mid is coded (libopus
/// `silk_stereo_encode_mid_only`).
pub fn silk_stereo_encode_mid_only(ps_range_enc: &mut RangeCoder, mid_only_flag: i8) {
    ps_range_enc.encode_icdf(mid_only_flag as i32, &SILK_STEREO_ONLY_CODE_MID_ICDF, 8);
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::silk::decode_indices::{silk_stereo_decode_mid_only, silk_stereo_decode_pred};

    fn round_trip(only_middle: i8) -> ([i32; 2], bool) {
        let mut enc = RangeCoder::new_encoder(64);
        silk_encode_stereo(&mut enc, 0, 0, only_middle);
        let bytes = enc.finish();
        let mut dec = RangeCoder::new_decoder(&bytes);
        let pred = silk_stereo_decode_pred(&mut dec);
        (pred, silk_stereo_decode_mid_only(&mut dec))
    }

    #[test]
    fn stereo_header_is_neutral_mid_only() {
        assert_eq!(round_trip(1), ([0, 0], true));
    }

    #[test]
    fn stereo_header_keeps_the_mid_only_flag() {
        assert_eq!(round_trip(0), ([0, 0], false));
    }
}

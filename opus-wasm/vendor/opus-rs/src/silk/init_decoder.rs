use crate::silk::decoder_structs::SilkDecoderState;
use crate::silk::define::*;
use crate::silk::tables_nlsf::*;

pub fn silk_decoder_set_fs(dec: &mut SilkDecoderState, fs_khz: i32, fs_api_hz: i32) -> i32 {
    if fs_khz != 8 && fs_khz != 12 && fs_khz != 16 {
        return -1;
    }

    // The caller sets nb_subfr for the packet's frame size first, as in
    // libopus: 10 ms frames read their pitch contour with the 10 ms table.
    // Forcing 4 subframes here picked the 20 ms table for every frame, and
    // voiced 10 ms frames desynced the range decoder. Anything but 2 (an
    // unset state) means 4.
    if dec.nb_subfr != 2 {
        dec.nb_subfr = MAX_NB_SUBFR as i32;
    }
    dec.subfr_length = (SUB_FRAME_LENGTH_MS as i32) * fs_khz;
    let frame_length = dec.subfr_length * dec.nb_subfr;

    if dec.fs_khz != fs_khz || frame_length != dec.frame_length {
        dec.pitch_contour_icdf = if fs_khz == 8 {
            if dec.nb_subfr == MAX_NB_SUBFR as i32 {
                &crate::silk::tables::SILK_PITCH_CONTOUR_NB_ICDF
            } else {
                &crate::silk::tables::SILK_PITCH_CONTOUR_10_MS_NB_ICDF
            }
        } else if dec.nb_subfr == MAX_NB_SUBFR as i32 {
            &crate::silk::tables::SILK_PITCH_CONTOUR_ICDF
        } else {
            &crate::silk::tables::SILK_PITCH_CONTOUR_10_MS_ICDF
        };

        if dec.fs_khz != fs_khz {
            // Bandwidth switch (libopus decoder_set_fs.c): reset the state that
            // is tied to the old rate. Without this, a stale `lag_prev` (e.g.
            // 288 at 16 kHz) survives a switch to 8 kHz and drives
            // out-of-bounds indexing in silk_decode_core (issue #27 deep scan).
            dec.ltp_mem_length = (LTP_MEM_LENGTH_MS as i32) * fs_khz;
            // NB and MB share the order-10 NLSF codebook; only WB codes 16
            // coefficients. Set both from one branch, as libopus does: the
            // decoder reads `ps_nlsf_cb.order` NLSF indices and filters with
            // `lpc_order` coefficients (issue #53: 12 kHz had 16 against 10).
            let (lpc_order, nlsf_cb) = if fs_khz == 8 || fs_khz == 12 {
                (MIN_LPC_ORDER, &SILK_NLSF_CB_NB_MB)
            } else {
                (MAX_LPC_ORDER, &SILK_NLSF_CB_WB)
            };
            dec.lpc_order = lpc_order as i32;
            dec.ps_nlsf_cb = Some(nlsf_cb);
            dec.pitch_lag_low_bits_icdf = match fs_khz {
                8 => &crate::silk::tables::SILK_UNIFORM4_ICDF,
                12 => &crate::silk::tables::SILK_UNIFORM6_ICDF,
                _ => &crate::silk::tables::SILK_UNIFORM8_ICDF,
            };
            dec.first_frame_after_reset = 1;
            dec.lag_prev = 100;
            dec.last_gain_index = 10;
            dec.prev_signal_type = TYPE_NO_VOICE_ACTIVITY;
            dec.out_buf.fill(0);
            dec.s_lpc_q14_buf.fill(0);
        }

        dec.fs_khz = fs_khz;
        dec.frame_length = frame_length;
    }

    dec.fs_api_hz = fs_api_hz;

    0
}

pub fn silk_reset_decoder(ps_dec: &mut SilkDecoderState) -> i32 {
    ps_dec.prev_gain_q16 = 1 << 16;
    ps_dec.exc_q14.fill(0);
    ps_dec.s_lpc_q14_buf.fill(0);
    ps_dec.out_buf.fill(0);
    ps_dec.lag_prev = 100;
    ps_dec.last_gain_index = 10;
    ps_dec.first_frame_after_reset = 1;
    ps_dec.ec_prev_signal_type = 0;
    ps_dec.ec_prev_lag_index = 0;
    ps_dec.vad_flags.fill(0);
    ps_dec.lbrr_flag = 0;
    ps_dec.lbrr_flags.fill(0);
    ps_dec.prev_nlsf_q15.fill(0);
    ps_dec.loss_cnt = 0;
    ps_dec.prev_signal_type = TYPE_NO_VOICE_ACTIVITY;
    ps_dec.indices = Default::default();

    0
}

pub fn silk_init_decoder(ps_dec: &mut SilkDecoderState) -> i32 {
    silk_reset_decoder(ps_dec);

    ps_dec.s_cng = Default::default();

    ps_dec.s_plc = Default::default();

    0
}

pub fn silk_create_decoder() -> SilkDecoderState {
    let mut dec = SilkDecoderState::default();
    silk_init_decoder(&mut dec);
    dec
}

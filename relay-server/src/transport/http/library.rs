//! Library routes: the track list, a track's details, the original file and the track as a
//! streamed Ogg Opus response.

use actix_files::NamedFile;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stream_core::control::{ErrorCode, OpusParams};
use stream_core::STREAM_SAMPLE_RATE;

use crate::library::opus_job::{start_opus, OpusSource, CHUNK_PACKETS};
use crate::library::TrackInfo;
use crate::media::ogg::OggOpusWriter;
use crate::media::opus::{OpusSettings, PACKET_FRAMES};
use crate::transport::error::ApiError;
use crate::transport::state::AppState;

pub(super) async fn tracks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.library.tracks())
}

fn find<'a>(state: &'a AppState, id: &str) -> Result<&'a TrackInfo, ApiError> {
    state.library.get(id).ok_or_else(|| ApiError::new(ErrorCode::UnknownTrack, "no track with that id"))
}

fn playable(t: &TrackInfo) -> Result<(), ApiError> {
    if t.playable {
        return Ok(());
    }
    Err(ApiError::new(
        t.error_code.unwrap_or(ErrorCode::UnsupportedFormat),
        format!("track cannot be played: {}", t.error.clone().unwrap_or_default()),
    ))
}

/// How a track is cut for streaming and caching.
#[derive(Serialize)]
struct Layout {
    sample_rate: u32,
    codecs: [&'static str; 3],
    supports_seeking: bool,
    opus_pre_skip: u32,
    packet_frames: u64,
    chunk_packets: u64,
    chunk_frames: u64,
    chunks: Option<u64>,
}

pub(super) async fn track(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let t = find(&state, &id)?;
    let pre_skip = state.opus_pre_skip as u64;
    let layout = Layout {
        sample_rate: STREAM_SAMPLE_RATE,
        codecs: ["opus", "pcm_s16", "pcm_f32"],
        supports_seeking: t.playable,
        opus_pre_skip: state.opus_pre_skip,
        packet_frames: PACKET_FRAMES,
        chunk_packets: CHUNK_PACKETS,
        chunk_frames: CHUNK_PACKETS * PACKET_FRAMES,
        chunks: t.total_samples.map(|n| (n + pre_skip).div_ceil(PACKET_FRAMES).div_ceil(CHUNK_PACKETS)),
    };
    let mut v = serde_json::to_value(t).unwrap_or_default();
    v["layout"] = serde_json::to_value(layout).unwrap_or_default();
    v["supports_seeking"] = serde_json::Value::Bool(t.playable);
    Ok(HttpResponse::Ok().json(v))
}

/// `GET /api/tracks/{id}/original`: the file itself, with Range support (206, 416).
pub(super) async fn original(state: web::Data<AppState>, id: web::Path<String>) -> Result<NamedFile, ApiError> {
    let t = find(&state, &id)?;
    // The scan kept only files inside the media folder; one replaced by a link since is not served.
    let inside = match (t.path.canonicalize(), state.config.media.canonicalize()) {
        (Ok(real), Ok(root)) => real.starts_with(root),
        _ => false,
    };
    if !inside {
        return Err(ApiError::new(
            ErrorCode::UnknownTrack,
            "file unavailable: it is no longer inside the media folder",
        ));
    }
    NamedFile::open_async(&t.path)
        .await
        .map_err(|e| ApiError::new(ErrorCode::UnknownTrack, format!("file unavailable: {e}")))
}

#[derive(Deserialize)]
pub(super) struct OggQuery {
    bitrate: Option<u64>,
    complexity: Option<u64>,
    profile: Option<String>,
}

/// `GET /api/tracks/{id}/stream.ogg`: the track as Ogg Opus, streamed as it is encoded (or
/// straight from the chunk cache).
pub(super) async fn stream_ogg(
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<OggQuery>,
) -> Result<HttpResponse, ApiError> {
    let t = find(&state, &id)?;
    playable(t)?;
    let bad = |error: String| ApiError::new(ErrorCode::InvalidParameter, error);
    let params = OpusParams::from_parts(q.profile.as_deref(), q.bitrate, q.complexity).map_err(|e| bad(e.message))?;
    let settings = OpusSettings::resolve(&params, t.channels);
    let src = OpusSource { path: t.path.clone(), track_id: t.id.clone(), settings, cache: state.cache.clone() };
    let job = web::block(move || start_opus(src, 0, 16))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(e.code, e.message))?;
    let mut tags: Vec<(&str, &str)> = vec![("TITLE", t.title.as_str())];
    if let Some(a) = &t.artist {
        tags.push(("ARTIST", a));
    }
    if let Some(a) = &t.album {
        tags.push(("ALBUM", a));
    }
    let serial = u32::from_str_radix(&t.id[1..9], 16).unwrap_or(1);
    let mut writer = OggOpusWriter::new(serial, settings.channels, job.pre_skip, t.sample_rate, &tags)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let head = writer.take();
    state.metrics.ogg_streams.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    struct St {
        rx: tokio::sync::mpsc::Receiver<crate::media::StreamEvent>,
        w: OggOpusWriter,
        head: Option<Bytes>,
        done: bool,
        shutdown: tokio::sync::watch::Receiver<bool>,
        _active: crate::transport::metrics::ActiveStream,
    }
    let st = St {
        rx: job.rx,
        w: writer,
        head: Some(head),
        done: false,
        shutdown: state.shutdown.subscribe(),
        _active: crate::transport::metrics::ActiveStream::new(state.metrics.clone()),
    };
    let body = futures_util::stream::unfold(st, |mut st| async move {
        if let Some(h) = st.head.take() {
            return Some((Ok::<Bytes, std::io::Error>(h), st));
        }
        if st.done {
            return None;
        }
        loop {
            let ev = tokio::select! {
                ev = st.rx.recv() => ev,
                Ok(_) = st.shutdown.wait_for(|down| *down) => None,
            };
            let Some(ev) = ev else {
                if !*st.shutdown.borrow() {
                    return None; // the decode thread is gone
                }
                // A server shutdown: the file ends here, whole, with its EOS page.
                st.done = true;
                return match st.w.finish_here() {
                    Ok(()) => Some((Ok(st.w.take()), st)),
                    Err(e) => Some((Err(e), st)),
                };
            };
            match st.w.event(ev) {
                Ok(finished) => {
                    let bytes = st.w.take();
                    if finished || !bytes.is_empty() {
                        st.done = finished;
                        return Some((Ok(bytes), st));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ogg stream failed");
                    st.done = true;
                    return Some((Err(e), st));
                }
            }
        }
    });
    Ok(HttpResponse::Ok().content_type("audio/ogg").insert_header(("Cache-Control", "no-store")).streaming(body))
}

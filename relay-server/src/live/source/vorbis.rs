//! Vorbis comments (the tags of Ogg Vorbis, Opus and FLAC streams): the title of a song.

/// "ARTIST - TITLE" (or the title alone) from a Vorbis comment block (after its packet's
/// signature: vendor string, then `KEY=value` entries).
pub fn comment_title(b: &[u8]) -> Option<String> {
    let mut at = 0usize;
    let u32_at = |at: &mut usize| -> Option<usize> {
        let v = u32::from_le_bytes(b.get(*at..*at + 4)?.try_into().ok()?) as usize;
        *at += 4;
        Some(v)
    };
    let vendor = u32_at(&mut at)?;
    at = at.checked_add(vendor)?;
    let count = u32_at(&mut at)?;
    let (mut title, mut artist) = (None, None);
    for _ in 0..count.min(1024) {
        let Some(len) = u32_at(&mut at) else { break };
        let Some(entry) = at.checked_add(len).and_then(|end| b.get(at..end)) else { break };
        at += len;
        let Some(eq) = entry.iter().position(|&c| c == b'=') else { continue };
        let value = String::from_utf8_lossy(&entry[eq + 1..]).trim().to_owned();
        if value.is_empty() {
            continue;
        }
        match entry[..eq].to_ascii_uppercase().as_slice() {
            b"TITLE" => title = title.or(Some(value)),
            b"ARTIST" => artist = artist.or(Some(value)),
            _ => {}
        }
    }
    super::mpeg::song(artist, title)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(entries: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&6u32.to_le_bytes());
        v.extend_from_slice(b"vendor");
        v.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            v.extend_from_slice(&(e.len() as u32).to_le_bytes());
            v.extend_from_slice(e.as_bytes());
        }
        v
    }

    #[test]
    fn titles_from_comments() {
        assert_eq!(
            comment_title(&block(&["title=Six sixty", "ARTIST=Tone Lab"])).as_deref(),
            Some("Tone Lab - Six sixty")
        );
        assert_eq!(comment_title(&block(&["TITLE=Alone"])).as_deref(), Some("Alone"));
        assert_eq!(comment_title(&block(&["ENCODER=x"])), None);
        // A count larger than the block: what is there is read, nothing more.
        let mut b = block(&["TITLE=Cut"]);
        b[10] = 9;
        assert_eq!(comment_title(&b).as_deref(), Some("Cut"));
        assert_eq!(comment_title(&[1, 0]), None);
    }
}

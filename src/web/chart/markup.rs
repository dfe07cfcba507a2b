//! The SVG text around what plotters draws: stripping its outer `<svg>`,
//! escaping inserted text, wrapping layers in `<g>` groups (with a `<title>`
//! where a layer has a tooltip), element ids, and the guard that keeps
//! inline styles out of the output.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Strips the outer `<svg ...>` and `</svg>` that `SVGBackend` writes.
pub(super) fn svg_body(svg: &str) -> &str {
    let start = svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(0);
    let end = svg.rfind("</svg>").unwrap_or(svg.len());
    svg[start..end].trim_matches('\n')
}

/// Removes any `style="..."` attribute (plotters-svg 0.3.7 writes none; this
/// guards against a future version doing so, since the page's CSP forbids
/// inline styles). Text content is escaped by plotters, so a literal
/// `style="` can only be an attribute.
pub(super) fn strip_style_attrs(s: &str) -> Cow<'_, str> {
    if !s.contains(" style=\"") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(" style=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 8..];
        rest = match after.find('"') {
            Some(j) => &after[j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Escapes text for XML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// FNV-1a, stable across Rust versions, for element ids.
pub(super) fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Appends `inner` wrapped in `<g class="{class}">`.
pub(super) fn push_group(out: &mut String, class: &str, inner: &str) {
    let _ = write!(out, "<g class=\"{class}\">\n{inner}\n</g>\n");
}

/// Like [`push_group`], with presentation attributes (`name="value"` ...)
/// that the group's elements inherit.
pub(super) fn push_group_styled(out: &mut String, class: &str, attributes: &str, inner: &str) {
    let _ = write!(out, "<g class=\"{class}\" {attributes}>\n{inner}\n</g>\n");
}

/// Like [`push_group`], with a `<title>` (escaped) as the group's first child.
pub(super) fn push_titled(out: &mut String, class: &str, title: &str, inner: &str) {
    push_titled_styled(out, class, "", title, inner);
}

/// Like [`push_titled`], with presentation attributes (` name="value"` ...,
/// each with its leading space) that the group's elements inherit.
pub(super) fn push_titled_styled(
    out: &mut String,
    class: &str,
    attributes: &str,
    title: &str,
    inner: &str,
) {
    let _ = write!(
        out,
        "<g class=\"{class}\"{attributes}><title>{}</title>\n{inner}\n</g>\n",
        esc(title)
    );
}

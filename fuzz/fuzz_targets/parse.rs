//! The parser must never panic, loop or overflow the stack, whatever the text; and every
//! diagnostic it reports must point inside the text and render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = vigil_kql_syntax::parse(&text);
    for diagnostic in &parsed.diagnostics {
        assert!(diagnostic.span.start <= diagnostic.span.end, "span runs backwards");
        assert!(diagnostic.span.end as usize <= text.len(), "span past the end of the text");
        let rendered = diagnostic.render(&text);
        assert!(!rendered.is_empty());
    }
});

//! G.711 µ-law and A-law expansion (ITU-T G.711), the telephone codecs call recorders write as
//! WAV format tags 7 and 6. One byte a sample; the tables are built at compile time.

/// A macro because const fns cannot call through function pointers.
macro_rules! table {
    ($expand:ident) => {{
        let mut out = [0i16; 256];
        let mut i = 0;
        while i < 256 {
            out[i] = $expand(i as u8);
            i += 1;
        }
        out
    }};
}

/// µ-law byte → 16-bit linear sample.
pub static ULAW: [i16; 256] = table!(ulaw_to_linear);
/// A-law byte → 16-bit linear sample.
pub static ALAW: [i16; 256] = table!(alaw_to_linear);

/// The reference expansion (Sun's g711.c, as sox and Asterisk use it): bits are inverted on the
/// wire, a 3-bit segment scales a 4-bit mantissa, and a bias of 0x84 is removed.
const fn ulaw_to_linear(byte: u8) -> i16 {
    const BIAS: i32 = 0x84;
    let u = !byte;
    let magnitude = ((((u & 0x0F) as i32) << 3) + BIAS) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 {
        BIAS - magnitude
    } else {
        magnitude - BIAS
    }) as i16
}

/// A-law toggles the even bits on the wire; segment 0 is linear, the others double each step.
const fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mantissa = ((a & 0x0F) as i32) << 4;
    let magnitude = match (a & 0x70) >> 4 {
        0 => mantissa + 8,
        segment => (mantissa + 0x108) << (segment - 1),
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

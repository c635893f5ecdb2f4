//! Colours: the public `Rgb` and `Theme` types, the two themes' chrome colours and
//! series palettes.
//!
//! The light palette is Tableau 10 followed by its lighter partners (Tableau 20's second
//! half): muted, distinguishable, print well. The dark palette uses brighter tints of the
//! same hues so thin lines stay visible on a near-black background.

/// Colour scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Dark text on white.
    #[default]
    Light,
    /// Light text on a near-black background.
    Dark,
}

/// An opaque colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parses `#rgb`, `rgb`, `#rrggbb` or `rrggbb`.
    pub fn parse_hex(s: &str) -> Option<Rgb> {
        let h = s.strip_prefix('#').unwrap_or(s);
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&h[i..=i], 16).ok();
        let pair = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        match h.len() {
            3 => Some(Rgb(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
            6 => Some(Rgb(pair(0)?, pair(2)?, pair(4)?)),
            _ => None,
        }
    }

    /// With an alpha, for drawing.
    pub(crate) fn alpha(self, a: u8) -> Color {
        Color {
            r: self.0,
            g: self.1,
            b: self.2,
            a,
        }
    }

    pub(crate) fn opaque(self) -> Color {
        self.alpha(255)
    }
}

/// A colour with alpha, as drawn (straight, not premultiplied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "each byte is masked to 0..=255 first"
)]
const fn hex(v: u32) -> Rgb {
    Rgb(
        ((v >> 16) & 0xff) as u8,
        ((v >> 8) & 0xff) as u8,
        (v & 0xff) as u8,
    )
}

const LIGHT_PALETTE: [Rgb; 20] = [
    hex(0x4e79a7),
    hex(0xf28e2b),
    hex(0xe15759),
    hex(0x76b7b2),
    hex(0x59a14f),
    hex(0xedc948),
    hex(0xb07aa1),
    hex(0xff9da7),
    hex(0x9c755f),
    hex(0xbab0ac),
    hex(0xa0cbe8),
    hex(0xffbe7d),
    hex(0xff9d9a),
    hex(0x86bcb6),
    hex(0x8cd17d),
    hex(0xf1ce63),
    hex(0xd4a6c8),
    hex(0xfabfd2),
    hex(0xd7b5a6),
    hex(0x79706e),
];

const DARK_PALETTE: [Rgb; 20] = [
    hex(0x60a5fa),
    hex(0xfb923c),
    hex(0xf87171),
    hex(0x2dd4bf),
    hex(0x4ade80),
    hex(0xfacc15),
    hex(0xc084fc),
    hex(0xf472b6),
    hex(0xd6a77a),
    hex(0xa1a1aa),
    hex(0x93c5fd),
    hex(0xfdba74),
    hex(0xfca5a5),
    hex(0x5eead4),
    hex(0x86efac),
    hex(0xfde047),
    hex(0xd8b4fe),
    hex(0xf9a8d4),
    hex(0xe7c9a9),
    hex(0xd4d4d8),
];

/// The chrome colours of one theme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    pub background: Rgb,
    pub grid: Rgb,
    pub axis: Rgb,
    pub text: Rgb,
    pub title: Rgb,
    pub marker: Rgb,
    pub series: &'static [Rgb; 20],
}

impl Palette {
    pub fn of(theme: Theme) -> Palette {
        match theme {
            Theme::Light => Palette {
                background: hex(0xffffff),
                grid: hex(0xe8eaee),
                axis: hex(0xa3aab5),
                text: hex(0x4b5361),
                title: hex(0x1d2330),
                marker: hex(0xc2410c),
                series: &LIGHT_PALETTE,
            },
            Theme::Dark => Palette {
                background: hex(0x16191f),
                grid: hex(0x2a2f38),
                axis: hex(0x525a67),
                text: hex(0xaab2bf),
                title: hex(0xe8ebf0),
                marker: hex(0xfbbf24),
                series: &DARK_PALETTE,
            },
        }
    }

    /// The colour of series `i`: the user's list if given, else the theme's, cycled.
    pub fn series_color(&self, custom: &[Rgb], i: usize) -> Rgb {
        if custom.is_empty() {
            self.series[i % self.series.len()]
        } else {
            custom[i % custom.len()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(Rgb::parse_hex("#fff"), Some(Rgb(255, 255, 255)));
        assert_eq!(Rgb::parse_hex("1f77b4"), Some(Rgb(0x1f, 0x77, 0xb4)));
        assert_eq!(Rgb::parse_hex("#12345"), None);
        assert_eq!(Rgb::parse_hex("red"), None);
        assert_eq!(Rgb::parse_hex("#ééé"), None);
    }
}

//! Colors from `themes/*.toml`: the four shipped themes are embedded; a file of the same name in
//! `<config dir>/brickdesk/themes/` overrides one or adds a new one. No widget hard-codes a color.
use anyhow::{Context, bail};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::str::FromStr;

const EMBEDDED: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    fg: String,
    bg: String,
    dim: String,
    accent: String,
    border: String,
    up: String,
    down: String,
    warn: String,
    live_fg: String,
    live_bg: String,
    demo_fg: String,
    demo_bg: String,
    highlight_bg: String,
    up_glyph: String,
    down_glyph: String,
    #[serde(default)]
    monochrome: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub fg: Color,
    pub bg: Color,
    pub dim: Color,
    pub accent: Color,
    pub border: Color,
    pub up: Color,
    pub down: Color,
    pub warn: Color,
    pub live_fg: Color,
    pub live_bg: Color,
    pub demo_fg: Color,
    pub demo_bg: Color,
    pub highlight_bg: Color,
    pub up_glyph: String,
    pub down_glyph: String,
    /// No colors at all: signals use bold, reverse and glyphs.
    pub monochrome: bool,
}

fn color(name: &str, field: &str) -> anyhow::Result<Color> {
    Color::from_str(name).map_err(|_| anyhow::anyhow!("{field}: {name:?} is not a color"))
}

impl Theme {
    pub fn names() -> Vec<&'static str> {
        EMBEDDED.iter().map(|(n, _)| *n).collect()
    }

    /// The theme by name: the user's file first, then the embedded one. `NO_COLOR` wins over both.
    pub fn load(name: &str) -> anyhow::Result<Theme> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self::load_from(name, no_color, dirs::config_dir().as_deref())
    }

    /// `load` with the environment spelled out: `no_color` (a non-empty `NO_COLOR`) and the
    /// config dir whose `brickdesk/themes/NAME.toml` overrides or adds a theme.
    pub fn load_from(
        name: &str,
        no_color: bool,
        config_dir: Option<&std::path::Path>,
    ) -> anyhow::Result<Theme> {
        if no_color {
            return Self::embedded("monochrome");
        }
        if let Some(dir) = config_dir {
            let path = dir
                .join("brickdesk")
                .join("themes")
                .join(format!("{name}.toml"));
            if path.exists() {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                return Self::parse(name, &text).with_context(|| format!("in {}", path.display()));
            }
        }
        Self::embedded(name)
    }

    pub fn embedded(name: &str) -> anyhow::Result<Theme> {
        match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Self::parse(n, text),
            None => bail!(
                "unknown theme {name:?}; shipped: {}",
                Self::names().join(", ")
            ),
        }
    }

    pub fn parse(name: &str, text: &str) -> anyhow::Result<Theme> {
        let f: ThemeFile = toml::from_str(text)?;
        Ok(Theme {
            name: name.to_string(),
            fg: color(&f.fg, "fg")?,
            bg: color(&f.bg, "bg")?,
            dim: color(&f.dim, "dim")?,
            accent: color(&f.accent, "accent")?,
            border: color(&f.border, "border")?,
            up: color(&f.up, "up")?,
            down: color(&f.down, "down")?,
            warn: color(&f.warn, "warn")?,
            live_fg: color(&f.live_fg, "live_fg")?,
            live_bg: color(&f.live_bg, "live_bg")?,
            demo_fg: color(&f.demo_fg, "demo_fg")?,
            demo_bg: color(&f.demo_bg, "demo_bg")?,
            highlight_bg: color(&f.highlight_bg, "highlight_bg")?,
            up_glyph: f.up_glyph,
            down_glyph: f.down_glyph,
            monochrome: f.monochrome,
        })
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }
    pub fn dim(&self) -> Style {
        let s = Style::default().fg(self.dim);
        if self.monochrome {
            s.add_modifier(Modifier::DIM)
        } else {
            s
        }
    }
    pub fn accent(&self) -> Style {
        Style::default()
            .fg(self.accent)
            .add_modifier(Modifier::BOLD)
    }
    pub fn border(&self) -> Style {
        Style::default().fg(self.border)
    }
    pub fn up(&self) -> Style {
        Style::default().fg(self.up)
    }
    pub fn down(&self) -> Style {
        Style::default().fg(self.down)
    }
    pub fn warn(&self) -> Style {
        let s = Style::default().fg(self.warn).add_modifier(Modifier::BOLD);
        if self.monochrome {
            s.add_modifier(Modifier::REVERSED)
        } else {
            s
        }
    }
    pub fn refused(&self) -> Style {
        let s = Style::default().fg(self.down).add_modifier(Modifier::BOLD);
        if self.monochrome {
            s.add_modifier(Modifier::REVERSED)
        } else {
            s
        }
    }
    pub fn live_banner(&self) -> Style {
        let s = Style::default()
            .fg(self.live_fg)
            .bg(self.live_bg)
            .add_modifier(Modifier::BOLD);
        if self.monochrome {
            s.add_modifier(Modifier::REVERSED | Modifier::SLOW_BLINK)
        } else {
            s
        }
    }
    pub fn demo_banner(&self) -> Style {
        let s = Style::default().fg(self.demo_fg).bg(self.demo_bg);
        if self.monochrome {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }
    pub fn selected(&self) -> Style {
        let s = Style::default()
            .bg(self.highlight_bg)
            .add_modifier(Modifier::BOLD);
        if self.monochrome {
            s.add_modifier(Modifier::REVERSED)
        } else {
            s
        }
    }
    /// Style for a value that goes with (`true`) or against a position.
    pub fn signed(&self, positive: bool) -> Style {
        if positive { self.up() } else { self.down() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_parses_and_unknown_names_are_refused() {
        for n in Theme::names() {
            Theme::embedded(n).unwrap();
        }
        assert!(
            Theme::embedded("neon")
                .unwrap_err()
                .to_string()
                .contains("dark, light")
        );
        assert!(Theme::embedded("monochrome").unwrap().monochrome);
    }
}

//! Tags of the dotted protocols turned into tree levels by a template (the `[listen.tags]`
//! section): DogStatsD's `|#name:value,name2:value2` and Graphite's (and Etsy statsd's)
//! `;name=value;name2=value2` after the metric name.
//!
//! The template's tags become levels, in its order, right after the first key of the
//! name: with `template = ["host", "dc"]`, `api.latency:12|ms|#host:web1,dc:eu` lands on
//! `api,web1,eu,latency`. A template tag a line does not carry (or carries without a
//! value) takes the `missing` key. Tags not in the template are dropped and counted
//! (`other = "drop"`), or make one more level after the template's (`other = "level"`):
//! their `name=value` pairs sorted by name and joined by `;` (`az=1;env=prod`), the
//! `missing` key for a line without any. Tag values are keys like any other: a `,` or a
//! control character refuses the line.

use serde::{Deserialize, Deserializer};

use super::metrics::{LineError, Reject};
use crate::path::check_key;

/// The `[listen.tags]` section. Unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TagConfig {
    /// Tag names whose values become tree levels, in this order, right after the first
    /// key of the metric name (default `[]`: no tag makes a level).
    pub template: Vec<String>,
    /// What becomes of tags not in `template`: `"drop"` (default; each dropped tag is
    /// counted in `treestat_listen_tags_dropped_total`) or `"level"` (one more level
    /// after the template's, their `name=value` pairs sorted and joined by `;`).
    pub other: OtherTags,
    /// The key standing for a template tag a line does not carry, and for the `other`
    /// level of a line without other tags (default `"none"`; must be a valid key).
    #[serde(deserialize_with = "de_key")]
    pub missing: String,
}

/// What becomes of the tags not in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtherTags {
    /// Dropped, and counted.
    Drop,
    /// One more level after the template's.
    Level,
}

impl Default for TagConfig {
    fn default() -> TagConfig {
        TagConfig {
            template: Vec::new(),
            other: OtherTags::Drop,
            missing: "none".into(),
        }
    }
}

fn de_key<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let key = String::deserialize(d)?;
    check_key(&key).map_err(|p| serde::de::Error::custom(format!("key {key:?} {p}")))?;
    Ok(key)
}

/// The tags of one line, as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawTags<'a> {
    /// DogStatsD's, after `|#`: `name:value,name2:value2`.
    pub dog: &'a str,
    /// Graphite's, after the name's first `;`: `name=value;name2=value2`.
    pub graphite: &'a str,
}

impl<'a> RawTags<'a> {
    /// No tags at all.
    pub fn is_empty(&self) -> bool {
        self.dog.is_empty() && self.graphite.is_empty()
    }

    /// `(name, value)` pairs in line order (Graphite's first); a tag without a value
    /// has an empty one.
    fn pairs(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let dog = self
            .dog
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| t.split_once(':').unwrap_or((t, "")));
        let graphite = self
            .graphite
            .split(';')
            .filter(|t| !t.is_empty())
            .map(|t| t.split_once('=').unwrap_or((t, "")));
        graphite.chain(dog)
    }
}

/// A metric name split from its Graphite tags: `a.b;k=v;k2=v2` is `("a.b", "k=v;k2=v2")`.
pub fn split_name(name: &str) -> (&str, &str) {
    name.split_once(';').unwrap_or((name, ""))
}

impl TagConfig {
    /// `path` (comma-joined, without tags) with the tags placed by the template.
    /// Returns the path and the number of tags dropped.
    ///
    /// # Errors
    /// `BadKey` when a tag's value (or the `other` level) is not a valid key.
    pub fn apply(&self, path: String, tags: RawTags<'_>) -> Result<(String, usize), LineError> {
        if tags.is_empty() {
            return Ok((path, 0));
        }
        if self.template.is_empty() && self.other == OtherTags::Drop {
            return Ok((path, tags.pairs().count()));
        }
        let mut levels: Vec<String> = Vec::with_capacity(self.template.len() + 1);
        for name in &self.template {
            let value = tags
                .pairs()
                .find(|&(k, v)| k == name && !v.is_empty())
                .map_or(self.missing.as_str(), |(_, v)| v);
            levels.push(value.to_string());
        }
        let mut others: Vec<(&str, &str)> = tags
            .pairs()
            .filter(|(k, _)| !self.template.iter().any(|t| t == k))
            .collect();
        let dropped = match self.other {
            OtherTags::Drop => others.len(),
            OtherTags::Level => {
                others.sort_unstable();
                let level = others
                    .iter()
                    .map(|&(k, v)| {
                        if v.is_empty() {
                            k.to_string()
                        } else {
                            format!("{k}={v}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(";");
                levels.push(if level.is_empty() {
                    self.missing.clone()
                } else {
                    level
                });
                0
            }
        };
        for level in &levels {
            check_key(level).map_err(|problem| {
                LineError::new(
                    Reject::BadKey,
                    format!(
                        "tag value {:?} {problem}",
                        level.chars().take(64).collect::<String>()
                    ),
                )
            })?;
        }
        let (first, rest) = match path.split_once(',') {
            Some((f, r)) => (f, Some(r)),
            None => (path.as_str(), None),
        };
        let mut out =
            String::with_capacity(path.len() + levels.iter().map(|l| l.len() + 1).sum::<usize>());
        out.push_str(first);
        for l in &levels {
            out.push(',');
            out.push_str(l);
        }
        if let Some(r) = rest {
            out.push(',');
            out.push_str(r);
        }
        Ok((out, dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dog(t: &str) -> RawTags<'_> {
        RawTags {
            dog: t,
            graphite: "",
        }
    }

    fn cfg(template: &[&str], other: OtherTags) -> TagConfig {
        TagConfig {
            template: template.iter().map(|s| (*s).to_string()).collect(),
            other,
            ..TagConfig::default()
        }
    }

    #[test]
    fn the_template_inserts_levels_after_the_first_key() {
        let c = cfg(&["host", "dc"], OtherTags::Drop);
        let (p, dropped) = c
            .apply("api,latency".into(), dog("dc:eu,host:web1,env:prod"))
            .unwrap();
        assert_eq!((p.as_str(), dropped), ("api,web1,eu,latency", 1));
        // Missing (or valueless) tags take the `missing` key; a one-key name gets the
        // levels after it.
        let (p, _) = c.apply("hits".into(), dog("host")).unwrap();
        assert_eq!(p, "hits,none,none");
        // Graphite's tags, and both kinds on one line.
        let g = RawTags {
            dog: "dc:us",
            graphite: "host=web2",
        };
        assert_eq!(c.apply("a,b,c".into(), g).unwrap().0, "a,web2,us,b,c");
        // No tags: the path as it was, nothing counted.
        assert_eq!(
            c.apply("a,b".into(), RawTags::default()).unwrap(),
            ("a,b".to_string(), 0)
        );
    }

    #[test]
    fn other_tags_are_dropped_and_counted_or_make_a_level() {
        let drop = TagConfig::default();
        assert_eq!(
            drop.apply("a,b".into(), dog("x:1,y:2,z")).unwrap(),
            ("a,b".to_string(), 3)
        );
        let level = cfg(&["host"], OtherTags::Level);
        assert_eq!(
            level
                .apply("a,b".into(), dog("z:1,host:h,env:prod,solo"))
                .unwrap(),
            ("a,h,env=prod;solo;z=1,b".to_string(), 0)
        );
        assert_eq!(
            level.apply("a,b".into(), dog("host:h")).unwrap().0,
            "a,h,none,b"
        );
    }

    #[test]
    fn bad_tag_values_refuse_the_line() {
        let c = cfg(&["host"], OtherTags::Drop);
        let e = c.apply("a,b".into(), dog("host:x\u{1}y")).unwrap_err();
        assert_eq!(e.reason, Reject::BadKey);
        let long = format!("host:{}", "h".repeat(300));
        assert!(c.apply("a".into(), dog(&long)).is_err());
    }

    #[test]
    fn config_parses_and_refuses_unknown_keys_and_bad_missing() {
        let c: TagConfig =
            toml::from_str("template = [\"host\", \"dc\"]\nother = \"level\"\nmissing = \"-\"")
                .unwrap();
        assert_eq!(c.template, ["host", "dc"]);
        assert_eq!((c.other, c.missing.as_str()), (OtherTags::Level, "-"));
        assert!(toml::from_str::<TagConfig>("templates = []").is_err());
        assert!(toml::from_str::<TagConfig>("missing = \"a,b\"").is_err());
        assert!(toml::from_str::<TagConfig>("other = \"keep\"").is_err());
        assert_eq!(
            toml::from_str::<TagConfig>("").unwrap(),
            TagConfig::default()
        );
        assert_eq!(split_name("a.b;k=v;x=y"), ("a.b", "k=v;x=y"));
        assert_eq!(split_name("a.b"), ("a.b", ""));
    }
}

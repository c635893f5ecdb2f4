//! The `geo` pipe: `geo,<continent>,<country>,<city>` request counts (`add`) from the
//! client address, looked up in a MaxMind City or Country database (the `maxminddb`
//! crate). Continent and country are codes (`EU`, `GB`), the city its English name;
//! a missing part is `unknown`, an address without a record counts under
//! `geo,unknown`. Lookups are cached per address (bounded: cleared when full).
//!
//! The client is the first address in `$remote_addr` that parses (so an
//! `X-Forwarded-For` list logged there yields the original client).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, Record, Schema, join_path};

/// Addresses kept in the cache before it is cleared.
pub const CACHE_CAP: usize = 65_536;

/// The `geo` pipe.
pub struct GeoPipe {
    reader: maxminddb::Reader<Vec<u8>>,
    field: usize,
    cache: HashMap<IpAddr, Box<str>>,
}

impl GeoPipe {
    /// Opens the database.
    ///
    /// # Errors
    /// When the file is missing or not a MaxMind database.
    pub fn open(path: &Path) -> Result<GeoPipe, PipeError> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| PipeError::new(format!("geo: cannot open {}: {e}", path.display())))?;
        Ok(GeoPipe {
            reader,
            field: usize::MAX,
            cache: HashMap::new(),
        })
    }

    fn lookup(&self, ip: IpAddr) -> String {
        let city = self
            .reader
            .lookup(ip)
            .ok()
            .and_then(|r| r.decode::<maxminddb::geoip2::City<'_>>().ok().flatten());
        let mut path = String::new();
        match city {
            None => path.push_str("geo,unknown"),
            Some(c) => {
                let or = |v: Option<&str>| v.unwrap_or("unknown").to_string();
                let continent = or(c.continent.code);
                let country = or(c.country.iso_code);
                let name = or(c.city.names.english);
                join_path(&mut path, &["geo", &continent, &country, &name]);
            }
        }
        path
    }
}

/// The first address in a field that may hold a list (`a, b`, quotes, ports).
pub fn first_ip(text: &str) -> Option<IpAddr> {
    text.split([',', ' ', '"'])
        .filter(|t| !t.is_empty())
        .find_map(|t| t.parse::<IpAddr>().ok())
}

impl Pipe for GeoPipe {
    fn name(&self) -> &str {
        "geo"
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        self.field = schema
            .index("remote_addr")
            .ok_or_else(|| PipeError::new("geo: the log format has no $remote_addr field"))?;
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        let Some(text) = record.get(self.field) else {
            return Ok(());
        };
        let Some(ip) = first_ip(text) else {
            out.emit("geo,unknown", 1.0, Some(Action::Add));
            return Ok(());
        };
        if let Some(p) = self.cache.get(&ip) {
            out.emit(p, 1.0, Some(Action::Add));
            return Ok(());
        }
        let path = self.lookup(ip);
        out.emit(&path, 1.0, Some(Action::Add));
        if self.cache.len() >= CACHE_CAP {
            self.cache.clear();
        }
        self.cache.insert(ip, path.into_boxed_str());
        Ok(())
    }
}

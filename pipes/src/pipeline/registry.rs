//! The registry of pipe kinds: a pipe's config names a built-in, `native` or `python`,
//! in process or (`isolate = true`) in a child process; [`build_pipe`] makes it.

use super::PipeConfig;
use crate::error::{Error, ErrorKind};
use treestat_pipe_api::Pipe;

/// Builds one pipe from its config: a built-in, `native` or `python`, in process or
/// (`isolate = true`) in a child process.
///
/// # Errors
/// Unknown pipe names and pipes that fail to build.
pub fn build_pipe(cfg: &PipeConfig) -> Result<Box<dyn Pipe>, Error> {
    if cfg.isolate {
        return crate::isolate::IsolatedPipe::from_config(cfg).map(|p| Box::new(p) as _);
    }
    if let Some(p) = crate::builtin::build(cfg) {
        return p.map_err(|e| Error::new(ErrorKind::PipeInit, e.0));
    }
    match cfg.pipe.as_str() {
        "native" => crate::native::NativePipe::from_config(cfg).map(|p| Box::new(p) as _),
        "python" => crate::python::PythonPipe::from_config(cfg).map(|p| Box::new(p) as _),
        other => Err(Error::new(
            ErrorKind::Config,
            format!(
                "unknown pipe {other:?} (built-ins: {}; or native, python)",
                crate::builtin::BUILTINS.join(", ")
            ),
        )),
    }
}

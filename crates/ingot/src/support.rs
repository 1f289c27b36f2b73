//! What the manager, the provider and model registration share, so that none of them
//! imports another for it: loading the catalog, and running the async downloader from
//! synchronous code.

use std::future::Future;
use std::path::Path;

use ingot_catalog::Catalog;

use crate::error::Result;

/// The merged catalog of `home` (built-in, user, `INGOT_CATALOG`), its conflicts and
/// refusals logged as warnings.
pub fn load_catalog(home: &Path) -> Result<Catalog> {
    let (catalog, conflicts) = Catalog::load_with_env(home)?;
    for c in conflicts {
        tracing::warn!("{c}");
    }
    for r in catalog.refused() {
        tracing::warn!("{r}");
    }
    Ok(catalog)
}

/// The server calls providers on blocking threads, and `add_model` on the caller's; the
/// downloader is async.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(fut),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime can always be built")
            .block_on(fut),
    }
}

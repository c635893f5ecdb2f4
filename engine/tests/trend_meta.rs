//! The trend store's metadata space: saved views and tail checkpoints survive a reopen.

use treestat_engine::trend::{TrendConfig, TrendErrorKind, TrendStore};

#[test]
fn metadata_survives_reopen_and_lists_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrendConfig::default();
    {
        let store = TrendStore::open(dir.path(), &cfg).unwrap();
        let clone = store.clone();
        clone
            .meta_put("view/cpu", b"{\"pattern\":\"cpu\"}")
            .unwrap();
        store.meta_put("view/net", b"net").unwrap();
        store.meta_put("tail/access.log", b"12345").unwrap();
        store.meta_put("view/old", b"x").unwrap();
        store.meta_delete("view/old").unwrap();
        store.meta_delete("view/never-there").unwrap();
    }
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    assert_eq!(store.meta_get("view/net").unwrap(), Some(b"net".to_vec()));
    assert_eq!(store.meta_get("view/old").unwrap(), None);
    let views = store.meta_list("view/").unwrap();
    let keys: Vec<&str> = views.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["view/cpu", "view/net"]);
    assert_eq!(store.meta_list("").unwrap().len(), 3);
    let err = store.meta_put("", b"x").unwrap_err();
    assert_eq!(err.kind(), TrendErrorKind::BadQuery);
}

//! Issue 4, acceptance 1: the original's own pipe test, exactly.

use crate::common;

use serde_json::json;

const LOG: &str = r#"[17/Jan/2012:17:37:26 +0800] 200 hdn.xnimg.cn 10.22.200.100:80 0.001 0.001 183.213.96.62 - GET /photos/x.jpg HTTP/1.1 4428 "http://www.renren.com/419816894" "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; 360SE)" "-"
[17/Jan/2012:17:00:55 +0800] 304 10.2.76.28 - - 0.000 10.2.76.25 - GET /highcharts/js/modules/exporting.js HTTP/1.1 158 "http://10.2.76.28/highcharts/examples/bar-basic.htm" "Mozilla/5.0 (Windows NT 5.1) AppleWebKit/535.7 (KHTML, like Gecko) Chrome/16.0.912.75 Safari/535.7" "-"
[17/Jan/2012:17:37:27 +0800] 200 hdn.xnimg.cn 10.22.200.100:80 0.001 0.001 183.213.96.63 - GET /a.jpg HTTP/1.1 100 "-" "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; Maxthon 2.0)" "-"
this is not a log line
"#;

#[test]
fn the_originals_peach_test() {
    let mut p =
        common::pipeline(json!({"name": "peach", "format": "peach", "pipes": ["ua", "status"]}));
    p.feed_text(LOG);
    assert_eq!(p.counts(), (3, 1));
    let engine = common::engine();
    p.flush(&engine).unwrap();
    let v = |path: &str| common::value(&engine, path);
    assert_eq!(v("_treestat,pipes,peach,lines"), 3.0);
    assert_eq!(v("_treestat,pipes,peach,bad_lines"), 1.0);
    assert_eq!(v("os,Windows,XP"), 3.0);
    assert_eq!(v("br,IE,8.0"), 1.0);
    assert_eq!(v("br,IE,7.0"), 1.0);
    assert_eq!(v("br,Chrome,16.0"), 1.0);
    assert_eq!(v("vendor,Maxthon,2.0"), 1.0);
    assert_eq!(v("vendor,360SE,unknown"), 1.0);
    assert_eq!(v("engine,trident,4.0"), 2.0);
    assert_eq!(v("engine,webkit,535.7"), 1.0);
    assert_eq!(v("status,2xx,200"), 2.0);
    assert_eq!(v("status,3xx,304"), 1.0);
    let all = common::everything(&engine);
    assert_eq!(all.len(), 12, "nothing else in the tree: {all:?}");
}

//! The command line is a contract: scripts outside the code rely on these exact names.
//! Every documented form must parse; typos must not.

use clap::Parser;
use treestat::cli::Cli;

fn parses(args: &str) -> bool {
    let argv = std::iter::once("treestat").chain(args.split_whitespace());
    Cli::try_parse_from(argv).is_ok()
}

#[test]
fn every_documented_form_parses() {
    for args in [
        "",
        "serve",
        "serve --conf conf/treestat.toml --data /tmp/d --http 127.0.0.1:8080 --tcp off --udp 127.0.0.1:8007 \
         --statsd 127.0.0.1:8125 --graphite off --interval 10s --no-agent --amqp amqp://127.0.0.1:5672/%2f",
        "serve --forward tcp://127.0.0.1:2003 --forward http://127.0.0.1:9090/api/v1/write",
        "push {\"a\":1}",
        "push --server http://127.0.0.1:8080 {\"a\":1}",
        "query br,ie,,venders",
        "query --server http://127.0.0.1:8080 br --from -1h --until now",
        "tail access.log",
        "tail - --once",
        "tail access.log.2.gz access.log.1 access.log --once",
        "tail a.log b.log --format combined --pipes ua,status --server http://127.0.0.1:8080 --from-start --once",
        "tail a.log --format $remote_addr",
        "tail access.log --once --report report.html",
        "report access.log",
        "report access.log -o report.html",
        "report access.log.2.gz access.log.1 access.log -o report.json",
        "report - --format combined --pipes ua,geo=GeoLite2-City.mmdb --output r.html --json --rows 50",
        "graph cpu,* -o out.png",
        "graph cpu,* -o out.svg --server http://127.0.0.1:8080 --from -6h --until now --width 800 --height 400 \
         --style cpu --type stacked --theme dark --title CPU --legend off",
        "agent",
        "agent --conf conf/agent.toml --server http://a:8080 --server udp://b:8007 --modules conf/modules --interval 10s --host web1",
        "agent modules",
        "agent enable cpu",
        "agent disable cpu",
        "relay --listen tcp://0.0.0.0:8007 --upstream http://127.0.0.1:8080",
        "serve --amqp amqp://127.0.0.1:5672/%2f --shard a --shard-weight 2 --amqp-queue-type quorum",
        "relay --listen http://0.0.0.0:8080/push --listen statsd://0.0.0.0:8125 --listen graphite://0.0.0.0:2003 \
         --upstream amqp://127.0.0.1:5672/%2f?format=tree&sharded=1 --interval 1s",
        "front --shards http://a:8080,http://b:8080",
        "front --shards http://a:8080 --shards http://b:8080 --listen 0.0.0.0:8090 --deadline 500ms --refresh 1m --auth-reads --header-timeout 10s",
        "export br",
        "export br --format csv --from -1d",
        "import dump.ndjson",
        "import dump.csv --data /tmp/d",
        "mmstats slurp",
        "mmstats poll -p app. hits,misses /tmp",
        "mmstats clean /tmp",
    ] {
        assert!(parses(args), "does not parse: treestat {args}");
    }
}

#[test]
fn bad_forms_are_refused() {
    for args in [
        "serve --htpp 127.0.0.1:1",
        "serve --http localhost",
        "serve --interval ten",
        "serve --amqp-queue-type mirrored",
        "serve --shard-weight heavy",
        "graph cpu",
        "report",
        "report a.log --rows many",
        "tail a.log --report r.html",
        "relay --listen tcp://0.0.0.0:8007",
        "front",
        "front --shards http://a:8080 --deadline soon",
        "front --shards http://a:8080 --header-timeout later",
        "nosuchcommand",
    ] {
        assert!(!parses(args), "parses but should not: treestat {args}");
    }
}

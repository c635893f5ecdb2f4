//! The faults of issue 16's acceptance 2 (nothing acknowledged lost: a killed shard, a
//! restarted broker, a three-node cluster with a node stopped), an agent publishing
//! sharded directly, and a broker without the consistent-hash plugin.

use super::*;

/// Faults, nothing acknowledged lost: every push the relay answered 200 (and every
/// StatsD line) reaches the shards exactly as the model sums it.
#[test]
fn a_killed_shard_and_a_restarted_broker_lose_nothing() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(broker) = broker::broker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exchange = "treestat.shards.faults";
    // Shard c's queue is a quorum queue (one node here: the declaration, durability and
    // recovery are what is tested, not replication).
    let mut shards: Vec<Serve> = [("a", "classic"), ("b", "classic"), ("c", "quorum")]
        .iter()
        .map(|(n, t)| start_shard_typed(dir.path(), &broker.url(), exchange, n, t))
        .collect();
    for s in &shards {
        s.wait_consuming();
    }
    let relay = Relay::start(&relay_url(broker, exchange));
    let to_relay = relay.basic_target();
    let mut model = BTreeMap::new();
    push_round(&to_relay, 1, &mut model);
    wait_union(&shards.iter().collect::<Vec<_>>(), &model);
    let b_keys = top_keys(&all(&shards[1].base()));
    assert!(!b_keys.is_empty());

    // Shard b is SIGKILLed; the relay keeps publishing, b's durable queue keeps its part.
    shards[1].kill();
    push_round(&to_relay, 2, &mut model);
    let others: BTreeMap<String, f64> = model
        .iter()
        .filter(|(k, _)| !b_keys.contains(k.split(',').next().unwrap()))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    wait_union(&[&shards[0], &shards[2]], &others);
    shards[1].restart();
    wait_union(&shards.iter().collect::<Vec<_>>(), &model);

    // The broker stops; pushes keep arriving at the relay, which buffers what it cannot
    // publish and publishes it, confirmed, once the broker is back. The shards' durable
    // queues and their bindings survive the restart.
    //
    // RabbitMQ rebuilds the consistent-hash ring from the bindings in the order it
    // recovers them, which need not be the order they were made in: after a broker
    // restart some keys may go to another shard (as when a shard is added;
    // docs/SCALING.md). Nothing is lost: a counter's parts in two shards add up to the
    // total, and a gauge's last value is in the shard its key goes to now.
    broker.stop();
    push_round(&to_relay, 3, &mut model);
    // Two relay intervals: the round is merged and forwarded into the relay's buffer.
    std::thread::sleep(Duration::from_secs(2));
    broker.restart();
    let all_shards: Vec<&Serve> = shards.iter().collect();
    wait_merged(&all_shards, &model);
    // One more round over the reconnected shards and relay.
    push_round(&to_relay, 4, &mut model);
    wait_merged(&all_shards, &model);
    let moved = moved_keys(&all_shards);
    eprintln!("top-level keys in two shards after the broker restart: {moved}");
}

/// Top-level keys held by more than one shard.
fn moved_keys(shards: &[&Serve]) -> usize {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in shards {
        for k in top_keys(&all(&s.base())) {
            *seen.entry(k).or_default() += 1;
        }
    }
    seen.values().filter(|&&n| n > 1).count()
}

/// Polls until every counter of `want` (`hits`, `req`) sums to its total over the
/// shards and every gauge (`mem`, `temp`) has its value in some shard, with no leaf
/// the workload did not make.
fn wait_merged(shards: &[&Serve], want: &BTreeMap<String, f64>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let per_shard: Vec<BTreeMap<String, f64>> = shards.iter().map(|s| all(&s.base())).collect();
        let missing: Vec<&String> = want
            .iter()
            .filter(|(path, v)| {
                let held = per_shard.iter().filter_map(|m| m.get(*path));
                if path.ends_with(",hits") || path.ends_with(",req") {
                    held.sum::<f64>() != **v
                } else {
                    !held.into_iter().any(|x| x == *v)
                }
            })
            .map(|(p, _)| p)
            .collect();
        let extra = per_shard
            .iter()
            .flat_map(BTreeMap::keys)
            .any(|k| !want.contains_key(k));
        if missing.is_empty() && !extra {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "shards disagree after the broker restart: {:?}",
            &missing[..missing.len().min(10)]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Without the `rabbitmq_consistent_hash_exchange` plugin the shard cannot declare its
/// exchange; its log says which plugin and the command that enables it (and it keeps
/// retrying rather than exiting).
#[test]
fn a_missing_plugin_is_named_with_the_command_that_enables_it() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(broker) = broker::broker_without_plugins() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut shard = start_shard(dir.path(), &broker.url(), "treestat.shards", "a");
    wait_for("the missing plugin in the shard's log", || {
        let log = std::fs::read_to_string(&shard.log).unwrap_or_default();
        log.lines()
            .find(|l| {
                l.contains("ERROR")
                    && l.contains("rabbitmq-plugins enable rabbitmq_consistent_hash_exchange")
            })
            .map(str::to_string)
    });
    assert!(
        shard.child.try_wait().unwrap().is_none(),
        "the shard keeps running and retrying"
    );
    shard.kill();
}

/// A three-node RabbitMQ cluster on this machine (distinct node names and ports, one
/// epmd, joined with `rabbitmqctl join_cluster`), every shard queue a quorum queue
/// replicated on the three: the shards talk to node 1, the relay to node 2, and node 0
/// is stopped while pushes flow. Nothing is lost, and the keys stay put (the ring is
/// not rebuilt: the cluster keeps running).
#[test]
fn a_three_node_cluster_with_quorum_queues_loses_nothing_when_a_node_stops() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(nodes) = broker::cluster(3) else {
        return;
    };
    let status = nodes[0].ctl(&["cluster_status"]);
    for n in &nodes {
        assert!(status.contains(n.node_name()), "{status}");
    }
    let dir = tempfile::tempdir().unwrap();
    let exchange = "treestat.shards.cluster";
    let shards: Vec<Serve> = ["a", "b", "c"]
        .iter()
        .map(|n| start_shard_typed(dir.path(), &nodes[1].url(), exchange, n, "quorum"))
        .collect();
    for s in &shards {
        s.wait_consuming();
    }
    let queues = nodes[1].ctl(&["list_queues", "-q", "name", "type"]);
    for name in ["a", "b", "c"] {
        let line = format!("{exchange}.{name}\tquorum");
        assert!(queues.lines().any(|l| l.trim() == line), "{queues}");
    }
    // Each queue has a member on every node (the default initial group size).
    let members = nodes[1].ctl(&["list_queues", "-q", "name", "members"]);
    for name in ["a", "b", "c"] {
        let line = members
            .lines()
            .find(|l| l.starts_with(&format!("{exchange}.{name}\t")))
            .unwrap_or_else(|| panic!("{members}"));
        for n in &nodes {
            assert!(line.contains(n.node_name()), "{line}");
        }
    }
    let relay = Relay::start(&relay_url(&nodes[2], exchange));
    let to_relay = relay.basic_target();
    let all_shards: Vec<&Serve> = shards.iter().collect();
    let mut model = BTreeMap::new();
    push_round(&to_relay, 1, &mut model);
    wait_union(&all_shards, &model);
    nodes[0].stop();
    push_round(&to_relay, 2, &mut model);
    wait_union(&all_shards, &model);
    push_round(&to_relay, 3, &mut model);
    wait_union(&all_shards, &model);
}

/// A Python module reporting one constant in each of twelve groups: the agent's tree has
/// twelve top-level keys.
const GROUPS_PY: &str = r#"
def one(name):
    return 1

def metric_init(params):
    return [{"name": "one%d" % i, "call_back": one, "value_type": "uint",
             "slope": "both", "groups": "grp%d" % i} for i in range(12)]
"#;

/// An agent publishes sharded directly, with the relay's URL form: each of its groups
/// (top-level keys) lands in exactly one shard, and the broker confirmed every message.
#[test]
fn an_agent_publishes_sharded_directly() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(broker) = broker::broker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let modules = dir.path().join("modules");
    std::fs::create_dir(&modules).unwrap();
    std::fs::write(modules.join("groups.py"), GROUPS_PY).unwrap();
    std::fs::write(modules.join("groups.conf"), "").unwrap();
    let exchange = "treestat.shards.agent";
    let shards: Vec<Serve> = ["a", "b", "c"]
        .iter()
        .map(|n| start_shard(dir.path(), &broker.url(), exchange, n))
        .collect();
    for s in &shards {
        s.wait_consuming();
    }
    let agent = treestat_agent::agent::Agent::new(&treestat_agent::AgentConfig {
        servers: vec![relay_url(broker, exchange)],
        host: Some("shardhost".into()),
        interval: Duration::from_secs(1),
        modules,
        ..treestat_agent::AgentConfig::default()
    })
    .expect("agent starts");
    assert!(agent.load_errors().is_empty(), "{:?}", agent.load_errors());
    let stop = treestat_agent::CancellationToken::new();
    let thread = {
        let s = stop.clone();
        std::thread::spawn(move || agent.run_with(&s, Duration::from_secs(30), |_| {}))
    };
    let refs: Vec<&Serve> = shards.iter().collect();
    let want: BTreeSet<String> = (0..12)
        .map(|i| format!("grp{i},shardhost,one{i}"))
        .collect();
    // `union` panics should a group be in two shards.
    let got = wait_for("every group in the shards", || {
        let u = union(&refs);
        want.iter().all(|p| u.get(p) == Some(&1.0)).then_some(u)
    });
    assert!(got.keys().all(|p| want.contains(p)), "{got:?}");
    let used = shards.iter().filter(|s| !all(&s.base()).is_empty()).count();
    assert!(used >= 2, "twelve keys over three shards went to {used}");
    stop.cancel();
    let stats = thread.join().expect("agent thread");
    assert!(
        stats.iter().all(|s| s.dropped == 0 && s.pending == 0),
        "every message confirmed: {stats:?}"
    );
}

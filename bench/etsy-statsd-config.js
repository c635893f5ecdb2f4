// Etsy statsd for the comparison run (bench/run-listeners.sh): UDP on 127.0.0.1:28125,
// management port 28126, no backends (nothing is sent anywhere, nothing is printed),
// and a flush interval longer than any run so that `statsd.metrics_received` is never
// reset while we read it.
{
  address: "127.0.0.1",
  port: 28125,
  mgmt_address: "127.0.0.1",
  mgmt_port: 28126,
  backends: [],
  flushInterval: 3600000,
  dumpMessages: false,
  debug: false
}

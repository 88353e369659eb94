"""What operators watch: heartbeats, readiness and the status of a running Herald."""

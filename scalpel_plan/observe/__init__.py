"""What happened: incident reports and failure alerts (and, later, metrics, the build
profile and the status dashboard), all read from the journal and the state."""

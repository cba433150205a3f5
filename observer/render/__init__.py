"""What the commands print: the audit, plan, map, fleet roll-up and Prometheus text."""

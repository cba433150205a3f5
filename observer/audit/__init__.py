"""The hotplug-readiness audit: what it reads, its verdicts and reasons, and its advice."""

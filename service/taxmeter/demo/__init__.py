"""The demo: simulated guarded/unguarded endpoints, a built-in prompt set, a traffic generator."""

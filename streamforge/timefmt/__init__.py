"""Time formats: Go reference layouts and strftime, for Bloblang and the processors."""

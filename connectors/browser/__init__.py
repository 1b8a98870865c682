"""Headless Debian chromium driven by Playwright: one browser per process, one context per job."""

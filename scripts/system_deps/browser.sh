# Debian's Chromium for the dashboard's browser tests (tests/dashboard): Playwright for
# Python drives it with executable_path=/usr/bin/chromium; Playwright's own browser
# downloads (`playwright install`) are never used.
# Sourced by scripts/setup_test_env.sh (apt_install comes from there).
apt_install chromium

# Sourced by the measuring scripts: sets `bin` to the storport binary to measure — the one
# given ($1 of the caller, passed here as $1), else a release build made now.
bin=${1:-}
if [ -z "$bin" ]; then
  source scripts/setup.sh
  swift build -c release --product storport >/dev/null
  bin=.build/release/storport
fi

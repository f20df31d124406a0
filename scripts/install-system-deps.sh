#!/usr/bin/env bash
# Installs the system packages vocalmine needs, only those missing: chromaprint (fpcalc + libchromaprint),
# ffmpeg (decoder fallback for formats libsndfile lacks), Chromium (browser tests of the pair report), and for the
# demo songs FluidSynth with the FluidR3 General MIDI SoundFont and espeak-ng (rapped parts).
set -euo pipefail
missing=()
command -v fpcalc >/dev/null 2>&1 || missing+=(libchromaprint-tools)
ldconfig -p 2>/dev/null | grep -q 'libchromaprint\.so' || missing+=(libchromaprint1)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so' || missing+=(libfluidsynth3)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

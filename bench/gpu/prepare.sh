#!/bin/sh
# Run where Flex and Bison exist (the development machine), before a GPU session: builds the parser sources
# and copies them to .gpu/generated, which git ignores. The GPU machine lacks Flex and Bison, so the device
# call names `.gpu` in its carry and bench/gpu/run_h100.sh builds with -DLSTMC_GENERATED_PARSER.
set -eu
cd "$(dirname "$0")/../.."
cmake -S . -B build -G Ninja >/dev/null
ninja -C build -j2 lstmc >/dev/null
mkdir -p .gpu/generated
cp build/generated/parser.c build/generated/parser.h build/generated/lexer.c build/generated/ir_parser.c \
   build/generated/ir_parser.h build/generated/ir_lexer.c .gpu/generated/
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
echo "ready: .gpu/generated holds the parser sources; call the device with carry [\".gpu\"] and"
echo "       command: bash bench/gpu/run_h100.sh"

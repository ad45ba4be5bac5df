#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang + ASan + UBSan and runs each for FUZZ_SECONDS (default 60).
# Seed corpora come from the repository: examples and golden diagnostics for the spec target, pipelines
# from specs and tests for the pipeline target, weights files for the safetensors target, checkpoints of
# fuzz/checkpoint.lstm trained by this script for the checkpoint target, the IR files of the tests and their
# models after pipelines for the ir target, systolic images compiled by this script (as tar archives) for the
# systolic_images target. Any input that
# crashes is kept in build-fuzz/crashes/ and fails the run; add it to tests/bad/fuzz/ as a regression test.
set -euo pipefail
seconds=${FUZZ_SECONDS:-60}
build=build-fuzz
if [ ! -f $build/CMakeCache.txt ]; then
  CC=clang cmake -S . -B $build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSTMC_FUZZ=ON -DLSTMC_WITH_LLVM=OFF >/dev/null
fi
cmake --build $build -j "$(nproc)" >/dev/null
corpus=$build/corpus
mkdir -p $corpus/spec $corpus/pipeline $corpus/safetensors $corpus/checkpoint $corpus/ir $build/crashes
cp examples/*.lstm tests/parse/*.lstm tests/golden/*/model.lstm $corpus/spec/ 2>/dev/null || true
find tests -name '*.lstm' -path '*bad*' -exec cp {} $corpus/spec/ \; 2>/dev/null || true
grep -ho 'passes "[^"]*"' examples/*.lstm | sed 's/^passes "//; s/"$//' | while read -r p; do
  printf '%s' "$p" > "$corpus/pipeline/$(printf '%s' "$p" | md5sum | cut -c1-12)"; done
for p in 'prune{sparsity=0.8}' 'column-combine{alpha=8,gamma=0.5,block=256},conflict-prune' \
         'quantize{bits=4,rounding=stochastic,seed=3}' 'weight-drop,prune{scope=row,skip=encoder.weight|decoder.*}'; do
  printf '%s' "$p" > "$corpus/pipeline/$(printf '%s' "$p" | md5sum | cut -c1-12)"; done
# checkpoints of fuzz/checkpoint.lstm: trained here (one mid-epoch before its prune_at pipeline, one after it)
# plus the catalogue's damaged ones
head -c 3000 examples/data/sample.txt > $build/ckpt-data.txt
for run in "--epochs 1 --max-steps 5" "--epochs 3"; do
  # shellcheck disable=SC2086
  $build/lstmc train fuzz/checkpoint.lstm --data $build/ckpt-data.txt --threads 1 --quiet -o $build/ckpt-seed.safetensors $run
  cp $build/ckpt-seed.ckpt.safetensors "$corpus/checkpoint/seed-${run// /}"
done
cp tests/bad/ckpt/*.safetensors $corpus/checkpoint/
find tests/golden -name '*.safetensors' -size -200k -exec cp {} $corpus/safetensors/ \;
find tests -path '*bad*' -name '*.safetensors' -exec cp {} $corpus/safetensors/ \; 2>/dev/null || true
# IR text: the tests' files (hand-written tensors, malformed ones) and the examples, and one of the tests'
# small models after pipelines that make masked, packed and quantized tensors (small seeds keep it fast)
cp tests/passes/*.test tests/passes/inputs/*.ir tests/ir/*.test tests/ir/*.ir $corpus/ir/ 2>/dev/null || true
for p in 'prune{sparsity=0.5},quantize{bits=4}' 'column-combine{alpha=4},conflict-prune,quantize{bits=8}' \
         'prune{sparsity=0.6},column-combine{alpha=4},conflict-prune,quantize{bits=1}' 'quantize{bits=2}'; do
  $build/lstmc opt tests/passes/column_combine.test --passes "$p" \
    > "$corpus/ir/passes-$(printf '%s' "$p" | md5sum | cut -c1-12).ir" 2>/dev/null
done
# systolic images of a small model (several arrays, gate units, loading modes), each packed as a tar archive
mkdir -p $corpus/systolic_images
"$build/lstmc" init tests/systolic/golden/tied.lstm --seed 2 -o $build/sys-seed.st 2>/dev/null
i=0
for settings in "--array 4x4 --gates pwl:8" "--array 8x8 --load double" "--array 3x5 --gates lut:16 --resident 100"; do
  rm -rf $build/sys-img
  # shellcheck disable=SC2086
  "$build/lstmc" compile tests/systolic/golden/tied.lstm --weights $build/sys-seed.st --target systolic -o $build/sys-img $settings 2>/dev/null
  tar cf "$corpus/systolic_images/seed-$i.tar" -C $build/sys-img .
  i=$((i+1))
done
status=0
for target in spec pipeline safetensors checkpoint ir systolic_images; do
  bin=$build/fuzz/fuzz_$target
  [ -x "$bin" ] || continue
  echo "fuzz_$target: ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$build/crashes/${target}-" "$corpus/$target" > "$build/fuzz_$target.log" 2>&1; then
    echo "fuzz_$target FAILED (see $build/fuzz_$target.log and $build/crashes/)"; tail -30 "$build/fuzz_$target.log"; status=1
  else
    grep -E '^(Done|#[0-9]+ *DONE)' "$build/fuzz_$target.log" | tail -1 || true
  fi
done
exit $status

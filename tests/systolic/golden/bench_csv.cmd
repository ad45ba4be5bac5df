bench tied.lstm --weights $T/tied.st --target systolic --reps 3 --seconds 0 --warmup 1 --o csv | cut -d, -f1-6

eval tied.lstm --weights $T/tied.st --data data.txt --target systolic --array 4x16 --load double --gates lut:16 --abits 6 --accbits 16 --verbose

compile tied.lstm --weights $T/tied.st --target systolic -o data.txt

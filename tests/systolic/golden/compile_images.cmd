compile tied.lstm --weights $T/tied.st --target systolic -o $T/images && ls $T/images

ir tied.lstm --weights $T/tied.st -o $T/tied-out.st && $LSTMC ir tied.lstm --weights $T/tied-out.st --verbose --passes "" && $LSTMC ir tied.lstm --weights $T/tied-out.st --verbose

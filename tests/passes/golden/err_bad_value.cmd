generate untied.lstm --weights $T/untied.st --passes "column-combine{alpha=80,gamma=-1}"

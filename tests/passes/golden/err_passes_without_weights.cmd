ir untied.lstm --passes prune

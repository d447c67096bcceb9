module local.build/pause

go 1.22

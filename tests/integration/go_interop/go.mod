module streamforge.test/go_interop

go 1.19

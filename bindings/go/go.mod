module github.com/reqivo/reqivo/bindings/go

go 1.24

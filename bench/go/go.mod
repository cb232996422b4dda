module reqivo-bench

go 1.24

require github.com/reqivo/reqivo/bindings/go v0.0.0

require github.com/gorilla/websocket v1.5.3

replace github.com/reqivo/reqivo/bindings/go => ../../bindings/go

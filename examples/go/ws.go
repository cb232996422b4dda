package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	reqivo "github.com/reqivo/reqivo/bindings/go"
)

// runWS is the `ws` subcommand: an echo chat over a WebSocket. A reader
// goroutine prints what comes back while the main goroutine writes, then
// Close ends the conversation with 1000.
//
//	go run -tags reqivo_tree . ws ws://127.0.0.1:PORT/chat [MESSAGE...]
func runWS(url string, messages []string) error {
	if len(messages) == 0 {
		messages = []string{"hello from Go", "how is the echo?", "bye"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := reqivo.NewSession(reqivo.WithHeader("User-Agent", "reqivo-go-demo"))
	if err != nil {
		return err
	}
	defer s.Close()

	ws, err := s.Dial(ctx, url, reqivo.WithSubprotocols("chat"), reqivo.WithDeflate(reqivo.Deflate{}))
	var refused *reqivo.HandshakeError
	if errors.As(err, &refused) {
		return fmt.Errorf("the server answered %s instead of 101: %w", refused.Response.Status, err)
	}
	if err != nil {
		return err
	}
	fmt.Printf("connected to %s: %s, subprotocol %q, extensions %q\n", url, ws.Response().Status,
		ws.Subprotocol(), ws.Response().Header.Get("Sec-WebSocket-Extensions"))

	binary := []byte{0, 1, 2, 3, 0xfe, 0xff}
	echoes := make(chan error, 1)
	go func() { // the reader: one echo per message written
		for i := 0; i <= len(messages); i++ {
			kind, data, err := ws.ReadMessage(ctx)
			if err != nil {
				echoes <- err
				return
			}
			switch {
			case kind == reqivo.TextMessage && i < len(messages) && string(data) == messages[i]:
				fmt.Printf("  < %s\n", data)
			case kind == reqivo.BinaryMessage && i == len(messages) && bytes.Equal(data, binary):
				fmt.Printf("  < %d binary bytes\n", len(data))
			default:
				echoes <- fmt.Errorf("unexpected echo %v %q", kind, data)
				return
			}
		}
		echoes <- nil
	}()
	for _, m := range messages { // the writer, while the reader reads
		fmt.Printf("  > %s\n", m)
		if err := ws.WriteMessage(ctx, reqivo.TextMessage, []byte(m)); err != nil {
			return err
		}
	}
	if err := ws.Ping(ctx, []byte("ping")); err != nil {
		return err
	}
	fmt.Printf("  > ping, then %d binary bytes\n", len(binary))
	if err := ws.WriteMessage(ctx, reqivo.BinaryMessage, binary); err != nil {
		return err
	}
	if err := <-echoes; err != nil {
		return err
	}
	if err := ws.Close(1000, "done"); err != nil {
		return err
	}
	fmt.Println("closed with 1000 \"done\"")
	return nil
}

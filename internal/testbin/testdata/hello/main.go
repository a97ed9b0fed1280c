// Command hello is built by testbin's tests to exercise the build path of Binary.
package main

import "fmt"

func main() { fmt.Println("hello from testbin") }

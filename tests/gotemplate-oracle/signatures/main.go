package main

import (
	"fmt"
	"github.com/Masterminds/sprig"
	"reflect"
	"sort"
)

func main() {
	m := sprig.GenericFuncMap()
	ks := []string{}
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		t := reflect.TypeOf(m[k])
		n := t.NumIn()
		v := t.IsVariadic()
		if v {
			n--
		}
		fmt.Printf("%s %d %v\n", k, n, v)
	}
}

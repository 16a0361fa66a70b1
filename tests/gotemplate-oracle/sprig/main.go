package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
)

// Argo CD's function map: sprig's GenericFuncMap minus env, expandenv, getHostByName.
// (normalize, slugify, toYaml, fromYaml, fromYamlArray are Argo CD's own; not here.)
func funcs() template.FuncMap {
	m := sprig.GenericFuncMap()
	delete(m, "env")
	delete(m, "expandenv")
	delete(m, "getHostByName")
	return m
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var in struct {
			T   string                 `json:"t"`
			D   map[string]interface{} `json:"d"`
			Opt string                 `json:"opt"`
		}
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			panic(err)
		}
		res := map[string]string{}
		t := template.New("base").Funcs(funcs())
		if in.Opt != "" {
			t = t.Option(in.Opt)
		}
		t, err := t.Parse(in.T)
		if err != nil {
			res["err"] = err.Error()
		} else {
			var b strings.Builder
			if err := t.Execute(&b, in.D); err != nil {
				res["err"] = err.Error()
			} else {
				res["out"] = b.String()
			}
		}
		o, _ := json.Marshal(res)
		fmt.Println(string(o))
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// Argo CD's function map: sprig's GenericFuncMap minus env, expandenv, getHostByName, plus
// Argo CD's normalize, toYaml, fromYaml and fromYamlArray (copied below from Argo CD's
// applicationset/utils/template_functions.go). slugify is not here: it needs
// github.com/gosimple/slug, which Debian does not package.
func funcs() template.FuncMap {
	m := sprig.GenericFuncMap()
	delete(m, "env")
	delete(m, "expandenv")
	delete(m, "getHostByName")
	m["normalize"] = SanitizeName
	m["toYaml"] = toYAML
	m["fromYaml"] = fromYAML
	m["fromYamlArray"] = fromYAMLArray
	return m
}

// From Argo CD (Apache License 2.0), applicationset/utils/template_functions.go.

// SanitizeName sanitizes the name in accordance with the below rules
// 1. contain no more than 253 characters
// 2. contain only lowercase alphanumeric characters, '-' or '.'
// 3. start and end with an alphanumeric character
func SanitizeName(name string) string {
	invalidDNSNameChars := regexp.MustCompile("[^-a-z0-9.]")
	maxDNSNameLength := 253

	name = strings.ToLower(name)
	name = invalidDNSNameChars.ReplaceAllString(name, "-")
	if len(name) > maxDNSNameLength {
		name = name[:maxDNSNameLength]
	}

	return strings.Trim(name, "-.")
}

func toYAML(v any) (string, error) {
	data, err := yaml.Marshal(v)
	if err != nil {
		// Swallow errors inside of a template.
		return "", err
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

func fromYAML(str string) (map[string]any, error) {
	m := map[string]any{}

	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		return nil, err
	}
	return m, nil
}

func fromYAMLArray(str string) ([]any, error) {
	a := []any{}

	if err := yaml.Unmarshal([]byte(str), &a); err != nil {
		return nil, err
	}
	return a, nil
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

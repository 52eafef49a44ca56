module github.com/ssekify/ssekify/examples

go 1.24

require github.com/ssekify/ssekify v0.0.0-00010101000000-000000000000

replace github.com/ssekify/ssekify => ../

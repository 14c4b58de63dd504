module github.com/passerelle/passerelle/sdk/go

go 1.24

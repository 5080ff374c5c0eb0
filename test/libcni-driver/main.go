// cnidrv drives CNI plugins through libcni, the library containerd (go-cni)
// and CRI-O (ocicni) use, so tests exercise the plugin the way a real runtime
// does: conflist loading, VERSION validation, result cache, prevResult
// injection, chain order (ADD forward, DEL reverse), capability args.
//
//	cnidrv add|check|del|validate CONFLIST NETNS CONTAINERID IFNAME
//
// Environment: CNI_PATH (plugin dirs, ':'-separated), CNIDRV_CACHE_DIR,
// CNIDRV_ARGS ("K=V;K=V"), CNIDRV_CAP_ARGS (JSON object of capability args).
// GC and STATUS are not in Debian's libcni 1.1.2; tests invoke them directly.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cnidrv:", err)
	os.Exit(1)
}

func runtimeConf(args []string) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{NetNS: args[0], ContainerID: args[1], IfName: args[2]}
	if a := os.Getenv("CNIDRV_ARGS"); a != "" {
		for _, kv := range strings.Split(a, ";") {
			if p := strings.SplitN(kv, "=", 2); len(p) == 2 {
				rt.Args = append(rt.Args, [2]string{p[0], p[1]})
			}
		}
	}
	if c := os.Getenv("CNIDRV_CAP_ARGS"); c != "" {
		if err := json.Unmarshal([]byte(c), &rt.CapabilityArgs); err != nil {
			fail(fmt.Errorf("CNIDRV_CAP_ARGS: %w", err))
		}
	}
	return rt
}

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: cnidrv add|check|del|validate CONFLIST [NETNS CONTAINERID IFNAME]"))
	}
	list, err := libcni.ConfListFromFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")),
		os.Getenv("CNIDRV_CACHE_DIR"), nil)
	ctx := context.Background()

	if os.Args[1] == "validate" {
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			fail(err)
		}
		fmt.Println(strings.Join(caps, ","))
		return
	}
	if len(os.Args) != 6 {
		fail(fmt.Errorf("%s needs NETNS CONTAINERID IFNAME", os.Args[1]))
	}
	rt := runtimeConf(os.Args[3:])
	switch os.Args[1] {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		if err := res.Print(); err != nil {
			fail(err)
		}
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

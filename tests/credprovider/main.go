// Test driver only (nothing here ships in pullsync): the kubelet's own image credential
// provider code, k8s.io/kubernetes/pkg/credentialprovider/plugin at the version of the test
// API server, run as the kubelet runs it for one pod. It reads a real CredentialProviderConfig,
// mints the pod's service-account token through the real TokenRequest API (audience and pod
// binding from tokenAttributes), execs the plugin binary, and prints, for each image, the
// credentials the keyring it builds returns: one JSON line per image.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/credentialprovider/plugin"
)

type found struct {
	Image string `json:"image"`
	Found bool   `json:"found"`
	Auths []auth `json:"auths"`
}

type auth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func main() {
	config := flag.String("config", "", "CredentialProviderConfig file")
	binDir := flag.String("bin-dir", "", "plugin binary directory")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig for TokenRequest and ServiceAccount reads (the kubelet's own rights)")
	namespace := flag.String("namespace", "", "the pod's namespace")
	pod := flag.String("pod", "", "the pod's name")
	podUID := flag.String("pod-uid", "", "the pod's UID")
	account := flag.String("service-account", "", "the pod's ServiceAccount")
	images := flag.String("images", "", "images to look up, comma-separated, in order")
	flag.Parse()

	rest, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		fail("client: %v", err)
	}
	ctx := context.Background()
	getToken := func(ns, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
		return client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, tr, metav1.CreateOptions{})
	}
	getAccount := func(ns, name string) (*v1.ServiceAccount, error) {
		return client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if err := plugin.RegisterCredentialProviderPlugins(*config, *binDir, getToken, getAccount); err != nil {
		fail("register: %v", err)
	}
	keyring := plugin.NewExternalCredentialProviderDockerKeyring(*namespace, *pod, *podUID, *account)
	out := json.NewEncoder(os.Stdout)
	for _, image := range strings.Split(*images, ",") {
		creds, ok := keyring.Lookup(image)
		line := found{Image: image, Found: ok, Auths: []auth{}}
		for _, c := range creds {
			line.Auths = append(line.Auths, auth{Username: c.Username, Password: c.Password})
		}
		if err := out.Encode(line); err != nil {
			fail("stdout: %v", err)
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "credprovider-driver: "+format+"\n", args...)
	os.Exit(2)
}
